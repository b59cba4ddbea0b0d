"""platform/arrears/payments"""
