"""platform/arrears/reports"""
