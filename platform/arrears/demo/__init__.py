"""platform/arrears/demo"""
