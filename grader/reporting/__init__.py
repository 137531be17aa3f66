"""GradeReports → pages and files (read only): feedback, pictures, summary, gradebook, JUnit."""
