/* placeholder: replaced by the sandbox pause program */
#include <unistd.h>
int main(void) { for (;;) pause(); }
