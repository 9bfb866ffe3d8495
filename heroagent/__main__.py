from heroagent.cli import main

main()
