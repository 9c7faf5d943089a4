"""cronwright REST facade: five cron-job APIs as views over CronJobSpec resources."""
