from lumina.cli.entry import main

main()
