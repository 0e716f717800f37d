"""Database pieces Failsafe adds to Djangos."""
