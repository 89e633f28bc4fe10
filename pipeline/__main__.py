from .cli import main

if __name__ == "__main__":  # not again in the engine watchdog's spawned child
    main()
