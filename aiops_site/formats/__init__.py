"""Date formats for pages Django renders (the admin's change forms and lists): every exact time
names its zone. "Nov. 30, 2026, 10:37 p.m." left an on-call engineer in another zone guessing;
"Nov. 30, 2026, 22:37:30 UTC" does not. Loaded through ``FORMAT_MODULE_PATH``."""
