namespace ActorCluster.Grains.Interfaces;
