"""English formats: Django's, with a 24-hour clock and the zone on every date-time."""

DATETIME_FORMAT = "N j, Y, H:i:s T"
TIME_FORMAT = "H:i:s T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
