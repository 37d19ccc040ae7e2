/* bench: the value of the 10,000-entry map. */
#ifndef MAPS_H
#define MAPS_H

struct stats {
	unsigned long long count;
	unsigned long long bytes;
	char name[16];
};

#endif
