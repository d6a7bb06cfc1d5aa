from ioc.cli import main

main()
