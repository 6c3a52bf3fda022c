"""Workbook builders (openpyxl); imported only when a workbook is written."""
