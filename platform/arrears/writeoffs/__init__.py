"""platform/arrears/writeoffs"""
