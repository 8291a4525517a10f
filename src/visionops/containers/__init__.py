"""The stages as containers: the image's layout and the orchestrator specs in pipelines/.

``visionops pipelines export`` writes pipelines/ from the Kedro pipeline registry:
a compose file, an Argo Workflow, an Airflow DAG and a Kubernetes CronJob that run
each stage in its own container of the one visionops image (see the Dockerfile).
"""
