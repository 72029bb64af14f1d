"""What people see: rich tables, progress and exports for the terminal (`report`), and figures
(`plot`). Functions here return what to show; only the command line prints. The core never
imports this package."""
