"""spacenas.data"""
