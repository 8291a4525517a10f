"""Scheduled retraining: ``visionops schedule`` checks the project on a cron and runs
``dvc repro`` when the schedule, new data, drift or the production model's age asks
for it. Settings live in ``conf/base/scheduling.yml``.
"""
