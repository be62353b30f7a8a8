"""auth/oidc"""
