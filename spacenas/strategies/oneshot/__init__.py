"""spacenas.strategies.oneshot"""
