from lumina.cli.main import app

app()
