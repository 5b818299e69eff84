"""Numbered schema migrations; ``PRAGMA user_version`` records how many have run."""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: pipelines, runs, steps, attempts, metrics, events
    """
    CREATE TABLE pipelines (
        name TEXT PRIMARY KEY,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE pipeline_versions (
        pipeline TEXT NOT NULL REFERENCES pipelines(name),
        version INTEGER NOT NULL,
        definition TEXT NOT NULL,
        digest TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (pipeline, version)
    );
    CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
        pipeline TEXT NOT NULL,
        version INTEGER NOT NULL,
        definition TEXT NOT NULL,
        parameters TEXT NOT NULL,
        status TEXT NOT NULL,
        stop_requested INTEGER NOT NULL DEFAULT 0,
        start_time REAL NOT NULL,
        end_time REAL,
        failure_reason TEXT
    );
    CREATE INDEX runs_by_pipeline ON runs(pipeline, start_time);
    CREATE TABLE steps (
        run_id TEXT NOT NULL REFERENCES runs(run_id),
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        cache_hit INTEGER NOT NULL DEFAULT 0,
        cache_key TEXT,
        start_time REAL,
        end_time REAL,
        outputs TEXT,
        failure_reason TEXT,
        error_type TEXT,
        not_before REAL,
        PRIMARY KEY (run_id, name)
    );
    CREATE INDEX steps_by_cache_key ON steps(cache_key, status);
    CREATE TABLE attempts (
        run_id TEXT NOT NULL,
        step TEXT NOT NULL,
        n INTEGER NOT NULL,
        status TEXT NOT NULL,
        job_dir TEXT,
        pid INTEGER,
        pid_start TEXT,
        start_time REAL NOT NULL,
        end_time REAL,
        error_type TEXT,
        reason TEXT,
        PRIMARY KEY (run_id, step, n)
    );
    CREATE TABLE metrics (
        run_id TEXT NOT NULL,
        step TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        name TEXT NOT NULL,
        seq INTEGER NOT NULL,
        value REAL NOT NULL,
        PRIMARY KEY (run_id, step, attempt, name, seq)
    );
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts REAL NOT NULL,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL
    );
    """,
    # 2: hyperparameter tuning jobs and their trials
    """
    CREATE TABLE tuning_jobs (
        name TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        config TEXT NOT NULL,
        request TEXT NOT NULL,
        created_at REAL NOT NULL,
        end_time REAL,
        failure_reason TEXT,
        best_trial INTEGER
    );
    CREATE TABLE trials (
        tuning_job TEXT NOT NULL REFERENCES tuning_jobs(name),
        number INTEGER NOT NULL,
        status TEXT NOT NULL,
        params TEXT NOT NULL,
        objective REAL,
        job_name TEXT NOT NULL,
        job_dir TEXT NOT NULL,
        pid INTEGER,
        pid_start TEXT,
        start_time REAL NOT NULL,
        end_time REAL,
        failure_reason TEXT,
        model_uri TEXT,
        metrics TEXT,
        PRIMARY KEY (tuning_job, number)
    );
    """,
    # 3: model registry, approval audit trail, event subscriptions; steps keep their
    #    resolved arguments (what they actually read: the basis of lineage)
    """
    ALTER TABLE steps ADD COLUMN arguments TEXT;
    CREATE TABLE model_groups (
        name TEXT PRIMARY KEY,
        description TEXT,
        created_at REAL NOT NULL
    );
    CREATE TABLE model_packages (
        grp TEXT NOT NULL REFERENCES model_groups(name),
        version INTEGER NOT NULL,
        approval_status TEXT NOT NULL,
        record TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (grp, version)
    );
    CREATE TABLE approvals (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        grp TEXT NOT NULL,
        version INTEGER NOT NULL,
        from_status TEXT,
        to_status TEXT NOT NULL,
        who TEXT NOT NULL,
        comment TEXT,
        ts REAL NOT NULL
    );
    CREATE TABLE subscriptions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        grp TEXT NOT NULL,
        action TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    """,
    # 4: managed endpoints (the store is their control plane)
    """
    CREATE TABLE endpoints (
        name TEXT PRIMARY KEY,
        config TEXT NOT NULL,
        status TEXT NOT NULL,
        generation INTEGER NOT NULL DEFAULT 1,
        deployment TEXT,
        pid INTEGER,
        pid_start TEXT,
        url TEXT,
        failure_reason TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    """,
    # 5: which earlier run a cache hit reused
    """
    ALTER TABLE steps ADD COLUMN cache_source TEXT;
    """,
    # 6: monitoring runs (data / model quality baselines and checks); IF NOT EXISTS so the
    #    migration stays harmless if branches merged renumber it
    """
    CREATE TABLE IF NOT EXISTS monitoring_runs (
        run_id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        job TEXT NOT NULL,
        source TEXT NOT NULL,
        baseline TEXT,
        status TEXT NOT NULL,
        violations INTEGER,
        outputs TEXT,
        failure_reason TEXT,
        pid INTEGER,
        pid_start TEXT,
        created_at REAL NOT NULL,
        end_time REAL
    );
    CREATE INDEX IF NOT EXISTS monitoring_runs_by_time ON monitoring_runs(created_at);
    """,
    # 7: named models (Model.create()) and batch transform jobs run outside a pipeline
    """
    CREATE TABLE IF NOT EXISTS models (
        name TEXT PRIMARY KEY,
        record TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE TABLE IF NOT EXISTS transform_jobs (
        name TEXT PRIMARY KEY,
        request TEXT NOT NULL,
        status TEXT NOT NULL,
        job_dir TEXT NOT NULL,
        created_at REAL NOT NULL,
        end_time REAL,
        failure_reason TEXT,
        outputs TEXT
    );
    """,
    # 8: the tuned hyperparameters each trial's training job got (sampler values decoded),
    #    so readers such as lineage need no tuning code to interpret a trial
    """
    ALTER TABLE trials ADD COLUMN hyperparameters TEXT;
    """,
    # 9: callback steps: one row per attempt's token, also the message of its queue
    #    (visible_at: SQS's visibility timeout; IF NOT EXISTS against merge renumbering)
    """
    CREATE TABLE IF NOT EXISTS callbacks (
        token TEXT PRIMARY KEY,
        queue TEXT NOT NULL,
        run_id TEXT NOT NULL,
        step TEXT NOT NULL,
        n INTEGER NOT NULL,
        body TEXT NOT NULL,
        output_types TEXT NOT NULL,
        status TEXT NOT NULL,
        outputs TEXT,
        failure_reason TEXT,
        created_at REAL NOT NULL,
        deadline REAL NOT NULL,
        answered_at REAL,
        visible_at REAL NOT NULL DEFAULT 0,
        receives INTEGER NOT NULL DEFAULT 0,
        UNIQUE(run_id, step, n)
    );
    CREATE INDEX IF NOT EXISTS callbacks_by_queue ON callbacks(queue, status, created_at);
    """,
    # 10: Step Functions state machines (versions), executions, their event history, the
    #     threads of control of a running execution (root, Parallel branches, Map
    #     iterations), task tokens, and the local Lambda function registry
    """
    CREATE TABLE IF NOT EXISTS state_machines (
        name TEXT PRIMARY KEY,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE IF NOT EXISTS state_machine_versions (
        machine TEXT NOT NULL REFERENCES state_machines(name),
        version INTEGER NOT NULL,
        definition TEXT NOT NULL,
        digest TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (machine, version)
    );
    CREATE TABLE IF NOT EXISTS executions (
        arn TEXT PRIMARY KEY,
        machine TEXT NOT NULL,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        definition TEXT NOT NULL,
        status TEXT NOT NULL,
        input TEXT NOT NULL,
        output TEXT,
        error TEXT,
        cause TEXT,
        parent TEXT,
        stop_requested INTEGER NOT NULL DEFAULT 0,
        start_time REAL NOT NULL,
        stop_time REAL,
        UNIQUE (machine, name)
    );
    CREATE INDEX IF NOT EXISTS executions_by_machine ON executions(machine, start_time);
    CREATE TABLE IF NOT EXISTS execution_events (
        execution TEXT NOT NULL,
        id INTEGER NOT NULL,
        previous_id INTEGER NOT NULL,
        ts REAL NOT NULL,
        type TEXT NOT NULL,
        details TEXT,
        PRIMARY KEY (execution, id)
    );
    CREATE TABLE IF NOT EXISTS execution_threads (
        execution TEXT NOT NULL,
        path TEXT NOT NULL,
        state TEXT,
        input TEXT,
        status TEXT NOT NULL,
        output TEXT,
        error TEXT,
        cause TEXT,
        entered INTEGER NOT NULL DEFAULT 0,
        last_event INTEGER NOT NULL DEFAULT 0,
        retries TEXT,
        phase TEXT,
        phase_at REAL,
        wake_at REAL,
        PRIMARY KEY (execution, path)
    );
    CREATE TABLE IF NOT EXISTS task_tokens (
        token TEXT PRIMARY KEY,
        execution TEXT NOT NULL,
        path TEXT NOT NULL,
        attempt TEXT NOT NULL,
        status TEXT NOT NULL,
        output TEXT,
        error TEXT,
        cause TEXT,
        created_at REAL NOT NULL,
        heartbeat_at REAL NOT NULL,
        answered_at REAL,
        UNIQUE (execution, path, attempt)
    );
    CREATE TABLE IF NOT EXISTS lambda_functions (
        name TEXT PRIMARY KEY,
        record TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    """,
    # 11: schedules and their fire records, event rules and their firings, the event
    #    cursor, leases (one scheduler per store), notification channels and notifications
    #    (IF NOT EXISTS against merge renumbering); `models on-approve` subscriptions become
    #    model-approved rules (reacting to approvals from now on)
    """
    CREATE TABLE IF NOT EXISTS schedules (
        name TEXT PRIMARY KEY,
        spec TEXT NOT NULL,
        target TEXT NOT NULL,
        state TEXT NOT NULL,
        next_ms INTEGER,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE IF NOT EXISTS rules (
        name TEXT PRIMARY KEY,
        event TEXT NOT NULL,
        pattern TEXT NOT NULL,
        target TEXT NOT NULL,
        watch TEXT,
        created_at REAL NOT NULL
    );
    CREATE TABLE IF NOT EXISTS fires (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        source TEXT NOT NULL,
        owner TEXT NOT NULL,
        key TEXT NOT NULL,
        due_ms INTEGER NOT NULL,
        target TEXT NOT NULL,
        params TEXT NOT NULL,
        status TEXT NOT NULL,
        launcher_pid INTEGER,
        launcher_start TEXT,
        pid INTEGER,
        pid_start TEXT,
        detail TEXT,
        reason TEXT,
        created_at REAL NOT NULL,
        started_at REAL,
        ended_at REAL,
        UNIQUE(source, owner, key)
    );
    CREATE INDEX IF NOT EXISTS fires_by_status ON fires(status, id);
    CREATE INDEX IF NOT EXISTS fires_by_owner ON fires(source, owner, id);
    CREATE TABLE IF NOT EXISTS cursors (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS leases (
        name TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        acquired_at REAL NOT NULL,
        expires_at REAL NOT NULL
    );
    CREATE TABLE IF NOT EXISTS notify_channels (
        name TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        target TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE TABLE IF NOT EXISTS notifications (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL,
        channel TEXT NOT NULL,
        subject TEXT,
        message TEXT NOT NULL,
        event TEXT,
        dedupe TEXT UNIQUE,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at REAL NOT NULL,
        claimed_until REAL NOT NULL DEFAULT 0,
        last_error TEXT,
        created_at REAL NOT NULL,
        delivered_at REAL
    );
    CREATE INDEX IF NOT EXISTS notifications_pending ON notifications(status, next_at);
    INSERT OR IGNORE INTO rules(name, event, pattern, target, watch, created_at)
        SELECT 'on-approve-' || grp || '-' || id, 'model-approved',
               json_object('detail', json_object('group', json_array(grp))),
               json_object('kind', 'pipeline', 'file', json_extract(action, '$.file'),
                           'pipeline', NULL,
                           'params', json(COALESCE(json_extract(action, '$.params'), '[]')),
                           'parameter', json_extract(action, '$.parameter'),
                           'cwd', json_extract(action, '$.cwd')),
               NULL, CAST(strftime('%s', 'now') AS REAL)
        FROM subscriptions WHERE kind = 'on-approve';
    """,
    # 12: where a run's jobs go (its backend: name, Ray address, shared artifact store,
    #    resources as JSON), so a resumed run goes on where it started
    """
    ALTER TABLE runs ADD COLUMN backend TEXT;
    """,
    # 13: events read by kind (an endpoint update's steps, a callback's wake-ups) without
    #    scanning every run's events
    """
    CREATE INDEX IF NOT EXISTS events_by_kind ON events(kind, id);
    """,
]
