"""Lambda code of the AMR job service, one package per domain.

core        settings, clock, errors, AWS clients, table models, observability,
            lazy loading, keys, pagination, the route conventions (`web`)
accounts    users, password hashing, tokens and login, the accounts routes
jobs        the job state machine, parameters, S3 layout, lifecycle policy, job routes
batches     a sequencing run's samples as one batch: its record, cancel/delete of all
            its jobs, the sample x antibiotic matrix, the batch routes
prediction  the upload-event handler, input readers, reference databases,
            predictors and result rendering
maintenance archive, purge and stalled-job recovery; their schedules
gateway     the HTTP pipeline (middleware), the OpenAPI document, health, and the
            browser app (`webapp`, serving the HTML/CSS/ES modules of `static/` as data)

Imports only point down this list's dependency order (core at the bottom, gateway at
the top); `tests/unit/test_layout.py` fails on any import cycle.
"""
