import time

from codecarbon import OfflineEmissionsTracker

for i, project in enumerate(["asr", "asr"]):
    t = OfflineEmissionsTracker(
        country_iso_code="FRA",
        project_name=project,
        experiment_id=f"whisper-ft-{i + 1}",
        output_dir="/tmp/gen/cc",
        output_file="emissions.csv",
        log_level="error",
        save_to_file=True,
    )
    t.start()
    s = sum(x * x for x in range(3_000_000))
    time.sleep(1)
    t.stop()
