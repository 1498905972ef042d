"""spacenas.strategies.query"""
