from aotbuilder.jit.worker import main

main()
