from multidc.program import main

main()
