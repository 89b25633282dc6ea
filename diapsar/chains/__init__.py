"""Processing chains (DiapOTB SAR_MultiSlc and its parts): they call the applications in order."""
