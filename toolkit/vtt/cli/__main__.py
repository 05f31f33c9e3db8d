from vtt.cli.app import main

main()
