"""One translation module per documented cron-job API."""
