"""The app's screens: the three modes (dashboard, gates, leaderboard), the detail and the dialogs."""
