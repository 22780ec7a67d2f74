# Shortcuts; dev.py is the entry point and needs only Python.
.PHONY: run test lint bench

run:
	python3 dev.py run

test:
	python3 dev.py test

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/python manage.py makemigrations --check --dry-run

bench:
	.venv/bin/python bench/seed.py
