"""platform/arrears/orgs"""
