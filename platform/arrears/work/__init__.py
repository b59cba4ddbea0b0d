"""platform/arrears/work"""
