"""platform/arrears/cases"""
