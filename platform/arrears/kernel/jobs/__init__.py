"""platform/arrears/kernel/jobs"""
