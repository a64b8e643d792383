# The MLflow tracking server: the official image of the same MLflow release as the clients (pyproject: mlflow 3.17),
# plus psycopg2, which the official image does not ship, for the PostgreSQL backend store.
# The backend URI names the driver (postgresql+psycopg2://): SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3.
FROM ghcr.io/mlflow/mlflow:v3.17.2
RUN pip install --no-cache-dir "psycopg2-binary>=2.9,<3"
