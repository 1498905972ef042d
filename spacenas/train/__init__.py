"""spacenas.train"""
