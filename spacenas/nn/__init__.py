"""spacenas.nn"""
