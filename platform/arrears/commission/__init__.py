"""platform/arrears/commission"""
