from processors.cli import app

app(prog_name="ioc processors")
