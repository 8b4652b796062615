"""The desktop app (the only package that imports PySide6).

- `app.run_app(paths)`: the `deconv-gui` window; `selftest.run_gui_self_test(screenshot)`;
  both check the Qt binding first (`binding.binding_defect`).
- `main_window.MainWindow(registry, settings=None)`: the layout, and the wiring of the
  controllers (`photo_list.PhotoList`, `restore_session.RestoreSession`,
  `live_quality.LiveQuality`, `batch_controller.BatchController`,
  `model_library.ModelLibrary`, `viewer.Viewer`) to the widgets (`CompareView`,
  `RestorePanel`, `QualityPanel`, `Filmstrip`); commands in the table of `actions`.
- `runner.JobRunner` / `TaskQueue`: generator jobs (core.jobs.restore_job, loads, metrics)
  driven in worker threads, re-emitted as signals; cancel = stop pulling.
- `display.DisplayImage`: 8-bit pyramids built off the GUI thread, painted at the zoom's level.
"""
