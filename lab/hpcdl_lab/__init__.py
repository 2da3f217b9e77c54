"""The hpcdl.gpu lab: containers on this machine that play the seed's world.

    internet  public network only; serves the lab's artifacts over HTTP, the egress probe page and
              the lab's images from a registry (docker-registry, port 5000)
    jump      public + private network; sshd; the controller reaches it directly
    gpuN      private network only; sshd + systemd; reached only through jump (ProxyCommand);
              Debian 12 like the others, or 13 or 11 (`up --os gpu2=bullseye`)

One definition of this topology (this package) serves the demo (`make demo`) and every Molecule
scenario (their create/destroy playbooks call `lab/lab.py up`/`down` with the scenario's name).
Each lab has a name; its state (SSH key, known_hosts, generated inventory, artifact folder) lives
in .lab/<name>/, which `down` removes along with every container, network and host firewall rule
the lab added.

The entry point stays `lab/lab.py` (Makefile, Molecule and the benchmark call it); Python puts
its folder first on sys.path, where this package is found. It is called hpcdl_lab rather than
lab so that it cannot be mistaken for the script (a package lab/lab/ beside lab/lab.py would be
what `import lab` finds) nor for the collection's own code. Standard library only: `make
lab-down` runs it with the system python3. One module per job:

    common      say, LabError, run, engine, paths and settings shared by the others
    engine      install/start the container engine; probe --privileged; the runtime wrapper
    image       the base images, one per Debian release: recipe hash, the host's Debian mirror,
                debootstrap build
    artifacts   what the internet host serves: recipes, their cache and its lock
    topology    the Lab: networks, containers, host firewall rules, up and down
    registry    the internet host's upstream registry (docker-registry) holding the lab's images
    connection  ssh_config, known_hosts, the generated inventory, waiting for SSH
    cli         the commands: engine, image, up, down, status, inventory, wipe (a re-rented
                gpu node: same address, new host key), upstream (bytes that crossed to upstream)
"""
