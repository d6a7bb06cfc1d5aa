"""ioc: the console command that fronts every stage of the pipeline."""
