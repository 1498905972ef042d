"""spacenas.strategies"""
