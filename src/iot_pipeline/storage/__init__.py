"""TimescaleDB storage: schema model, migrations, engine and the batch writer."""
