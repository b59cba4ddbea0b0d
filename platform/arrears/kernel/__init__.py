"""platform/arrears/kernel"""
