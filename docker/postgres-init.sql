-- Run once by the postgres image when its data volume is empty (/docker-entrypoint-initdb.d), as POSTGRES_USER.
-- One database per service; all owned by POSTGRES_USER (credentials come from docker/.env only).
CREATE DATABASE prefect;
CREATE DATABASE optuna;
CREATE DATABASE mlflow;
